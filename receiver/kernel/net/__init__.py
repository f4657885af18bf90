"""Outbound calls made safely: the address guard every URL from outside passes, proxies
and TLS, what a transport failure means, the fastest loop and parser at hand."""
