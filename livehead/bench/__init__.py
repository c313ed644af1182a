"""Speed measurement: the pipeline benchmark behind ``livehead bench`` and the network-only GPU benchmark.

``runs`` measures (full pipeline or ``Animator.render`` alone), ``resources`` records memory and
the machine, ``report`` owns the JSON fields, the terminal table and ``--compare``; ``gpu`` is
the per-variant GPU latency benchmark. The command line is ``livehead.commands.bench``.
"""
