-- One month's list calls, per caller.
SELECT caller, list_calls FROM yida_api_calls WHERE month = :month ORDER BY caller
