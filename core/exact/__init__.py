"""The exact values (arbitrary precision): intervals, Taylor series, each function's and loss's
exact form, an expression's, a result's.
"""
