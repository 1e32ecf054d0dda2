"""Drawing an evaluation's summary: facts right, brand voice and stale answers per column, before and
after the edits, as grouped bars, and the median time an answer took."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

PHASES = {"before": "before the edits", "after": "with the edits"}
MEASURES = {"fact_accuracy": "Facts right", "style_rate": "Brand voice", "stale_rate": "Stale after the edits"}


def charts(summary: list[dict]) -> None:
    table = pd.DataFrame(summary)
    table["phase"] = table["phase"].map(PHASES).fillna(table["phase"])  # legends sort by name: before, then with
    columns, phases = list(dict.fromkeys(table["backend"])), list(dict.fromkeys(table["phase"]))
    order = lambda wide: wide[[p for p in phases if p in wide.columns]]  # noqa: E731  (before, then after)
    for (measure, title), place in zip(MEASURES.items(), st.columns(len(MEASURES))):
        shown = table.dropna(subset=[measure]) if measure == "stale_rate" else table
        wide = order(shown.pivot(index="backend", columns="phase", values=measure).reindex(columns) * 100).round(0)
        with place:
            st.markdown(f"**{title}** (% of answers)")
            if wide.empty:
                st.caption("Not measured here: a stale answer keeps a fact's old figure after an edit, which only "
                           "the shipped evaluation measures (its questions asked before and after the four "
                           "prepared edits); your own questions are asked once, on the documents as they are.")
                continue
            st.altair_chart(_grouped(wide), width="stretch")
    latency = order(table.pivot(index="backend", columns="phase", values="median_total_ms").reindex(columns)
                    / 1000).round(2)
    st.markdown("**Median time an answer took** (seconds, all four columns batched)")
    st.bar_chart(latency, stack=False, sort=False, horizontal=True, x_label="", y_label="seconds", height=200)


def _grouped(wide: pd.DataFrame) -> alt.Chart:
    """Grouped bars, one colour a phase, the legend under the chart: three of these sit side by side,
    and a legend on the right was cut off at 1200–1300 px."""
    long = wide.reset_index().melt(id_vars="backend", var_name="phase", value_name="percent")
    phases = list(wide.columns)
    base = alt.Chart(long).encode(
        x=alt.X("backend:N", sort=list(wide.index), title=None, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("phase:N", sort=phases),
        y=alt.Y("percent:Q", title="%", scale=alt.Scale(domain=[0, 100])),
    )
    bars = base.mark_bar().encode(
        color=alt.Color("phase:N", sort=phases, title=None, legend=alt.Legend(orient="bottom")),
        tooltip=["backend", "phase", "percent"])
    # each bar's number on it: an audience reads "50" faster than a bar's height against an axis
    numbers = base.mark_text(dy=-6, fontSize=10).encode(text=alt.Text("percent:Q", format=".0f"))
    return alt.layer(bars, numbers).properties(height=240)
