"""What `lambda_runtime` (the caller) and `lambda_host` (an environment) say to each other.

Its own module so that an environment, whose start-up every cold invocation waits for, does
not import the caller's side (the job executor and what it pulls in) for two constants.
"""

# The environment variable carrying the token a caller must present.
TOKEN_VARIABLE = "LAMBDA_RUNTIME_TOKEN"
# Sent before the handler runs: a caller that never sees it knows nothing ran.
ACCEPTED = "accepted"
