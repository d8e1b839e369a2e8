"""Tools the agent can call: typed inputs, declared danger, one registry."""

from harness.tools._registry import Tool, ToolContext, ToolRegistry, tool

__all__ = ["Tool", "ToolContext", "ToolRegistry", "tool"]
