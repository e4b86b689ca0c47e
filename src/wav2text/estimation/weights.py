"""How the rate estimator weighs its cues (estimate.RateWeights). Written by
benchmarks/fit_rate_weights.py from its fit split, where leave-one-clip-out validates them;
not edited by hand: run `python benchmarks/fit_rate_weights.py --write` again.
"""

# leave-one-clip-out on the fit split:
# ridge 0.0003: exact 78.3%, refused 11.8%, confident and >10 % off 0 (bar 0.75)
SCORE_SCALE = 13.848
EDGE = 1.792
TREND = -1.836
ACOUSTIC = (  # per acoustic.FEATURES
    1.876,  # likelihood
    5.307,  # peakiness
    -1.261,  # static likelihood
    -1.767,  # static peakiness
    -2.461,  # delta likelihood
    -1.281,  # acceleration likelihood
)
CONFIDENCE = 0.75
