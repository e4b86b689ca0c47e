"""How the rate estimator weighs its cues (estimate.RateWeights). Written by
benchmarks/fit_rate_weights.py from its fit split, where leave-one-clip-out validates them;
not edited by hand: run `python benchmarks/fit_rate_weights.py --write` again.
"""

# leave-one-clip-out on the fit split:
# ridge 0.0003: exact 78.3%, refused 11.8%, confident and >10 % off 0 (bar 0.75)
SCORE_SCALE = 13.848
EDGE = 1.792
TREND = -1.836
# per acoustic.FEATURES: likelihood, peakiness, static likelihood, static peakiness, delta likelihood, acceleration likelihood
ACOUSTIC = (1.876, 5.307, -1.261, -1.767, -2.461, -1.281,)
CONFIDENCE = 0.75
