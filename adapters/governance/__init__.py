"""Governance adapters: role directories."""

from .roles import ClaimedRoles, FileRoleDirectory, InvalidRoleDirectory, RoleGrants

__all__ = ["ClaimedRoles", "FileRoleDirectory", "InvalidRoleDirectory", "RoleGrants"]
