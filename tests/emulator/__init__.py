"""Tests of the incident_analytics.emulator subpackage (a real server on loopback, no mocks)."""
