"""Imaging primitives, each written once: resizing, box means and the guided filter, colour spaces, Gaussian
colour transport. Arrays in, arrays out; no files, no project types."""
