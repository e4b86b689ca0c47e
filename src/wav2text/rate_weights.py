"""How the rate estimator weighs its cues (estimate.RateWeights). Written by
benchmarks/fit_rate_weights.py from its fit split, where leave-one-clip-out validates them;
not edited by hand: run `python benchmarks/fit_rate_weights.py --write` again.
"""

# leave-one-clip-out on the fit split:
# exact 72.4%, refused 20.4%, confident and >10 % off 4 (bar 0.7)
SCORE_SCALE = 24.685
EDGE = 2.119
TREND = -1.169
