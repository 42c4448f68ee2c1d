"""Evaluation with torch: the program and its one interpreter, the evaluator, every derivative
form, notes, batch groups, sympy formulas.
"""
