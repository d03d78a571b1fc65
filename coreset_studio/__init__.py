"""Coreset Studio's Streamlit studio, on top of the `coreset_core` library.

- `launcher` is the `coreset-studio` command (it imports no streamlit);
- `app.py` and `page_scripts/` are the Streamlit app (layout only);
- `sidebar`, `widgets` draw the data setting and the shared controls;
- `settings`, `choices`, `allowed_paths`, `jobs`, `sweep_job`, `render_log`, `method_params`
  hold the studio's state and rules, `views/` the chart data and figures, `lesson/` the lesson.

Everything except the page scripts, `app.py`, `sidebar` and `widgets` is plain Python that
the tests call without a browser.
"""
