"""Where training runs when it is not this process.

* :mod:`recsys.engines.spark`: matrix factorisation by distributed stratified SGD (DSGD) on
  Apache Spark, writing the same model file as the local engine.

Nothing here is imported by ``import recsys``; an engine's third-party packages (pyspark) are
imported only when the engine is used.
"""
