"""Hidden-test running and assertion helpers; everything here runs in the trusted process."""
