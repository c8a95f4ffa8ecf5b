"""The batch script: inputs and writers (``io``), and one loop (``run``) shared by the
in-process run (``local``) and the ``--server`` run (``remote``)."""
