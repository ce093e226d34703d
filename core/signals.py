"""Domain events: lower packages send them, higher packages subscribe in init_app."""

from blinker import Namespace

_events = Namespace()

# accounts
user_signed_up = _events.signal("user-signed-up")
user_role_changed = _events.signal("user-role-changed")

# forum. The sender is the thread or post; every event carries `actor=` (the user who acted, None
# for the system). They are sent before the commit: subscribers add rows and enqueue jobs in the
# same transaction and never commit; raising rolls the whole change back.
thread_created = _events.signal("thread-created")
thread_deleted = _events.signal("thread-deleted")
thread_restored = _events.signal("thread-restored")
thread_hidden = _events.signal("thread-hidden")  # state= held, hidden or spam; reason=
thread_unhidden = _events.signal("thread-unhidden")
thread_closed = _events.signal("thread-closed")  # reason= the close reason's code
thread_reopened = _events.signal("thread-reopened")
thread_locked = _events.signal("thread-locked")
thread_unlocked = _events.signal("thread-unlocked")
thread_moved = _events.signal("thread-moved")  # from_category_id=
thread_pinned = _events.signal("thread-pinned")
thread_unpinned = _events.signal("thread-unpinned")
# Two threads change: the sender, and the one named by into= (a merge) or new_thread= (a split).
thread_merged = _events.signal("thread-merged")  # sender: the merged thread; into=, post_ids= answers moved
thread_split = _events.signal("thread-split")  # sender: the thread split; new_thread=, post_ids= posts moved
urgency_changed = _events.signal("urgency-changed")  # urgent= True or False
post_created = _events.signal("post-created")  # held= a reason when the post waits for review
post_edited = _events.signal("post-edited")  # held= a reason when the edit waits for review
post_deleted = _events.signal("post-deleted")
post_restored = _events.signal("post-restored")
post_hidden = _events.signal("post-hidden")  # state=, reason=
post_unhidden = _events.signal("post-unhidden")
answer_accepted = _events.signal("answer-accepted")  # sender: the thread; post= the accepted answer
answer_unaccepted = _events.signal("answer-unaccepted")  # sender: the thread; post= the answer it had
vote_cast = _events.signal("vote-cast")  # sender: the post; value=, previous=
# A signed-in person opened a thread page (sent after it rendered, outside any write): sender the
# thread's id; viewer_id=, posts= how many posts the page showed.
thread_viewed = _events.signal("thread-viewed")
categories_changed = _events.signal("categories-changed")  # a category created, edited or deleted

# Every forum event that changes what a thread page, a list or a search document shows.
THREAD_CHANGES = (
    thread_created, thread_deleted, thread_restored, thread_hidden, thread_unhidden, thread_closed,
    thread_reopened, thread_locked, thread_unlocked, thread_moved, thread_pinned, thread_unpinned,
    thread_merged, thread_split, urgency_changed, post_created, post_edited, post_deleted, post_restored,
    post_hidden, post_unhidden, answer_accepted, answer_unaccepted,
)
# What the events that change two threads name the second one by (see thread_merged, thread_split).
OTHER_THREAD_ARGS = ("into", "new_thread")

# kb (sender: the article, or its id once deleted; actor=; source_thread_id= the thread it was promoted from)
article_saved = _events.signal("article-saved")  # created, edited or restored
article_status_changed = _events.signal("article-status-changed")  # previous=the status it had
article_deleted = _events.signal("article-deleted")

# pages: receivers return extra sections (Markup) for a user's profile page
profile_sections = _events.signal("profile-sections")
