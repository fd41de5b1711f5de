"""Helpers more than one test area uses: the 7pace world, config templates, the TCP proxy, Samba gates."""
