// placeholder until the RESP client lands
