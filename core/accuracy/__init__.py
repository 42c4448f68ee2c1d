"""How accurate torch is: errors in ulps, --check and --dtypes, sweeps over ranges, and the regions
measured (generated).
"""
