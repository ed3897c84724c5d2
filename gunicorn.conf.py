"""gunicorn's settings for Engage. gunicorn reads this file from its working directory, so every
`gunicorn` started in the project directory uses it: bin/run, the systemd unit in
docs/production.md, the drills and benches. Flags on the command line override it.

keepalive: the seconds an idle kept-alive connection stays open. It must be longer than the idle
time of whatever reuses connections to gunicorn: nginx's upstream `keepalive_timeout` (60 s by
default) or an SDK's connection pool. Otherwise gunicorn closes a connection just as the client
sends its next request on it, and a POST fails ("Connection was closed before we received a valid
response"; nginx answers 502 and does not retry a POST). gunicorn's default is 2 s. The 30-minute
soak (bench/soak.py) hit exactly that race: 5 of 3,600 UpdateEndpointsBatch calls made every 2 s.
"""

keepalive = 75
