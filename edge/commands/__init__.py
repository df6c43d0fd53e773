"""The CLI's commands, registered by COMMANDS in edge/cli.py (name → module:function or typer app).

Modules import only typer at top level and the heavy libraries inside the commands. A command's
``epilog`` attribute (examples) is shown under its options.
"""
