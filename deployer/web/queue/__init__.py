"""The push queue (issue 15): people line up per service (or group of services) and environment;
the head gets the turn to deploy. ``rules`` decides (pure), ``store`` keeps it in the database."""
