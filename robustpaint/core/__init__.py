"""Headless core of RobustPaint: models, PGD engine, objectives, tasks, io.  Never imports Qt."""
