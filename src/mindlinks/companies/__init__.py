"""Client companies: registration with a business-registry check, links, invites."""
