"""Fault injection: real services stopped, restarted, cut or slowed while the hub runs."""
