"""The ``recsys`` command line.

Where things live: ``app`` is the click group (global options, one ``Error:`` line and an exit
code for every exception); each command module holds its commands and lists them in
``COMMANDS``: ``data_commands`` (``data list/download/info``), ``model_commands`` (``fit``,
``predict``, ``recommend``, ``similar``), ``evaluate_command``; ``_data_options`` holds the
options every data-reading command shares and ``interrupts`` the Ctrl-C exit. A new command:
a click command in the module of its kind (or a new module), added to that module's
``COMMANDS`` and, for a new module, to the loop at the end of ``app``.

Every error a user can cause becomes one line on stderr (``Error: ...``) and a non-zero exit
code, never a traceback (unless ``--debug`` or ``RECSYS_DEBUG=1`` asks for one):

* exit 1: a :class:`recsys.errors.RecsysError` (bad file, unknown id, divergence...) or a
  file-system error, with the message that names what was wrong and what to do;
* exit 2: a wrong option or option value (click's usage errors);
* exit 130: interrupted (Ctrl-C); files are only ever replaced once complete, so nothing is
  left half-written;
* exit 1 with "internal error": anything else, which is a bug in recsys.
"""

from recsys.cli.app import main

__all__ = ["main"]
