"""Reviews, their rendering (Markdown, HTML, charts) and what-if replays."""
