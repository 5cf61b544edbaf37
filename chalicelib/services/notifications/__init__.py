"""Telling people about spaces in time to join them.

What lives where:

- ``notes``: the kinds of notification (their wire values) and what each one says.
- ``reminders``: asking, or no longer asking, to be reminded of a scheduled space; the
  reminders filed by the minute they come due, the scheduler's tick that enqueues them,
  and the check that a due reminder is not stale.
- ``fanout``: who hears what. Lifecycle changes and due reminders become audience page
  jobs, pages become send jobs, and a send writes each inbox item once, then pushes and
  announces it.
- ``inbox``: the in-app inbox (pages, unread count, mark read) and the push devices.
- ``jobs``: the notifications queue's consumer, handing each job to its owner.

Fan-out never runs in a request or in the scheduler: both only enqueue jobs.
"""
