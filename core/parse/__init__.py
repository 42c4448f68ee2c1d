"""Text to numbers and programs: strict parsing of VALUES (numbers, lists, ranges, JSON, stdin) and
the expression parser.
"""
