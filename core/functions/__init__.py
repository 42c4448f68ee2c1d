"""The functions, as data: what a function is (spec), every activation and loss entry, and the
registry by name.
"""
