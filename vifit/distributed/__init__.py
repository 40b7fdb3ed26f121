"""``--backend dask``: the GMM fits with rows held in partitions on a Dask cluster.

A sweep maps the model's local step (``gmm.local_step``) over the persisted partitions and
reduces their additive statistics with a tree sum in a fixed pairing, so the client runs the
same CAVI loop, global step and ELBO as the single-machine fit (``inference/cavi.py``).

Modules: ``cluster`` (connect or start a cluster; the only place dask is imported at the
edge), ``reading`` (files cut into pieces, each parsed in chunks on a worker), ``tasks``
(functions the workers run on a partition; numpy only), ``partitions`` (persisted row
partitions, map and tree sum), ``cavi`` (the CAVI problem over partitions), ``svi`` (partitions as
minibatches), ``gmm`` (the loader and the CAVI fit ``GMM(backend="dask")`` runs), ``predict`` and
``predict_pieces`` (predict's files, one per partition, lined up with it). Nothing in this package is imported unless
``--backend dask`` is given, so dask stays an optional extra (``vifit[dask]``).
"""
