"""The write side of the server: login with instrument locks, certify, submissions,
confirm/cancel, and the deliveries they leave for the archive."""
