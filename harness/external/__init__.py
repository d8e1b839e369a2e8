"""Agents that bring their own loop: the client and tools the harness hands them.

An agent entry point is ``async def run(task, client, tools, model) -> str``: ``client``
is an ``anthropic.AsyncAnthropic`` over the trial's transport, held to the trial's
limits (``BudgetExhausted`` when one is reached), ``tools`` an ``AgentTools`` (schemas
in the Messages API format, calls by name), ``model`` the model id to ask for.
"""

from harness.external._meter import Meter, MeteredTransport
from harness.external._tools import AgentTools, ToolResult
from harness.llm._anthropic import BudgetExhausted, agent_client

__all__ = ["AgentTools", "BudgetExhausted", "Meter", "MeteredTransport", "ToolResult",
           "agent_client"]
