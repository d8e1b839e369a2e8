"""A support desk's ticket queue as a harness world, and a tool of its own."""

from ticket_desk.tools import sla_policy
from ticket_desk.world import TicketDesk

__all__ = ["TicketDesk", "sla_policy"]
