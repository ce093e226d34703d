"""Domain events: lower packages send them, higher packages subscribe in init_app."""

from blinker import Namespace

_events = Namespace()

# accounts
user_signed_up = _events.signal("user-signed-up")
user_role_changed = _events.signal("user-role-changed")

# forum (sender: the thread or post)
thread_created = _events.signal("thread-created")
thread_deleted = _events.signal("thread-deleted")
thread_closed = _events.signal("thread-closed")
post_created = _events.signal("post-created")
post_edited = _events.signal("post-edited")
post_deleted = _events.signal("post-deleted")
answer_accepted = _events.signal("answer-accepted")  # post=None when un-accepted
categories_changed = _events.signal("categories-changed")  # a category created, edited or deleted

# kb (sender: the article, or its id once deleted; source_thread_id= the thread it was promoted from)
article_saved = _events.signal("article-saved")  # created, edited or restored
article_status_changed = _events.signal("article-status-changed")  # previous=the status it had
article_deleted = _events.signal("article-deleted")

# pages: receivers return extra sections (Markup) for a user's profile page
profile_sections = _events.signal("profile-sections")
