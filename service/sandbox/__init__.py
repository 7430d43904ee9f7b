"""The sandbox: a zygote of pre-imported numpy/torch forking single-use, isolated children."""
