"""The compute entry of each workflow job: what a `grokstudy` stage command does once its arguments
are parsed, one module per command (`run(args)`).

The Snakefile digests these modules, with what they import, so everything that shapes a job's
numbers is in its code digest, and the command line's help text is not.
"""

import importlib


def handler(name: str):
    """The command-line handler of job `name`: grokstudy.jobs.<name>.run, imported when it runs."""

    def run(args) -> None:
        importlib.import_module(f"{__name__}.{name}").run(args)

    return run
