"""Leaderboards from run records: the board and its statistics, markdown, HTML, CSV."""
