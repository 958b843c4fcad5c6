from robustpaint.cli import run

run()
