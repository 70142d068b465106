"""Adapters registering exact solvers and rules as ``solve`` methods."""
