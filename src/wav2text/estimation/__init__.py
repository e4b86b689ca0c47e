"""Finding a rate nobody declared, and checking one that was: the decision (`decide`), the
estimator that weighs the evidence (`estimator`), its judges (`acoustic`: Sphinx's acoustic
model; `spectrum`: where the band ends) and the weights fitted to them (`weights`)."""
