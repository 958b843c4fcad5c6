"""Entry point of the PyInstaller bundle: no arguments starts the app, arguments run the command line."""

from robustpaint.cli import run

run()
