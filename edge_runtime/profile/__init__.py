"""``mobilebert-edge profile``: what a bundle costs on this machine (cold start, latency, throughput, peak RSS).

``cli.py`` registers the command (standard library only), ``measure.py`` runs each measurement in a
fresh process and collects the results, ``child.py`` is that process, ``samples.py`` holds the
built-in texts and ``report.py`` formats the table.
"""
