"""The studio's pages: scripts that `st.navigation` runs (never imported)."""
