from aichoreo.cli import run

run()
