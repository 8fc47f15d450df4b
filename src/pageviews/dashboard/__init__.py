"""The Streamlit dashboard: what a user looks at, read through a Store."""
