"""Drawing an evaluation's summary: facts right, brand voice and stale answers per column, before and
after the edits, as grouped bars, and the median time an answer took."""
from __future__ import annotations

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
                st.caption("Not measured: no edits in this run.")
                continue
            st.bar_chart(wide, stack=False, sort=False, x_label="", y_label="%", height=240)
    latency = order(table.pivot(index="backend", columns="phase", values="median_total_ms").reindex(columns) / 1000).round(2)
    st.markdown("**Median time an answer took** (seconds, all four columns batched)")
    st.bar_chart(latency, stack=False, sort=False, horizontal=True, x_label="", y_label="seconds", height=200)
