"""Drawing a decision: the choice, its reasons (each with the figure behind it) and the anti-patterns."""
import streamlit as st

from backends.evaluation.decision import Decision, Figures


def show(decision: Decision, figures: Figures) -> None:
    st.success(f"**{decision.choice}.** {decision.headline}", icon=":material/recommend:")
    if decision.reasons:
        st.markdown("**Why, in figures measured here**")
        st.markdown("\n".join(f"- {reason}".replace("$", "\\$") for reason in decision.reasons))
    for anti in decision.anti_patterns:
        st.warning(anti.replace("$", "\\$"), icon=":material/block:")
    sources = [figures.evaluation_source or "no evaluation recorded"]
    sources.append("retrieval's cost from this session's last question" if figures.retrieval_ms is not None
                   else "no question asked yet in this session (ask one for retrieval's cost)")
    st.caption("Figures from " + "; ".join(sources) + ". Training times: the shipped adapter's manifest and this "
               "server's measured step time.")
