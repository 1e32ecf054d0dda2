"""The Streamlit side: the pages (ui/pages/) and what they share. Logic lives in backends/, which never
imports streamlit."""
