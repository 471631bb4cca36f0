/*
 * epoll.c: the lwIP adapter's epoll instances: epoll_create, epoll_ctl and epoll_wait over the
 * socket layer's readiness (the same as poll's). An instance is an fd of the socket table with
 * its interest list; level-triggered by default, EPOLLET reports a readiness once until it
 * changes, EPOLLONESHOT disables the entry after one report.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <errno.h>
#include <stdlib.h>

#include "adapter.h"

/* One fd an instance watches. */
struct epoll_interest {
	struct epoll_interest *next;
	int fd;
	struct epoll_event event;
	short last_reported; /* EPOLLET: what the previous report said */
	bool disabled; /* EPOLLONESHOT, after its report */
};

struct epoll_instance {
	struct epoll_interest *interests;
};

void epoll_free(struct epoll_instance *epoll)
{
	while (epoll->interests) {
		struct epoll_interest *interest = epoll->interests;
		epoll->interests = interest->next;
		free(interest);
	}
	free(epoll);
}

static void remove_interest(struct epoll_instance *epoll, int fd)
{
	for (struct epoll_interest **link = &epoll->interests; *link; link = &(*link)->next) {
		if ((*link)->fd == fd) {
			struct epoll_interest *gone = *link;
			*link = gone->next;
			free(gone);
			return;
		}
	}
}

/* A closed fd leaves every interest list, as on Linux once its last reference is closed. */
void epoll_forget_fd(struct lwip_adapter *adapter, int fd)
{
	for (int other = FIRST_SOCKET_FD; other < MAX_SOCKET_FDS; other++) {
		struct adapter_socket *entry = adapter->sockets[other];
		if (entry && entry->epoll)
			remove_interest(entry->epoll, fd);
	}
}

static struct epoll_instance *epoll_by_fd(struct lwip_adapter *adapter, int fd)
{
	struct adapter_socket *entry = fd_entry(adapter, fd);
	return entry ? entry->epoll : NULL;
}

static int adapter_epoll_create(void *userdata, int size)
{
	struct lwip_adapter *adapter = userdata;
	pthread_mutex_lock(&adapter->lock);
	adapter_note_call(adapter);
	int result = -1;
	int error = 0;
	struct adapter_socket *entry = calloc(1, sizeof(*entry));
	struct epoll_instance *epoll = calloc(1, sizeof(*epoll));
	if (size <= 0) {
		error = EINVAL;
	} else if (!entry || !epoll) {
		error = ENOMEM;
	} else {
		entry->epoll = epoll;
		result = assign_fd(adapter, entry);
		if (result < 0)
			error = EMFILE;
	}
	if (result < 0) {
		free(entry);
		free(epoll);
	}
	pthread_mutex_unlock(&adapter->lock);
	if (error)
		errno = error;
	return result;
}

static int interest_change(struct lwip_adapter *adapter, struct epoll_instance *epoll, int op, int fd,
			   const struct epoll_event *event)
{
	struct adapter_socket *target = fd_entry(adapter, fd);
	if (!target)
		return EBADF;
	if (target->epoll)
		return EINVAL; /* nesting instances is not supported */
	struct epoll_interest *found = NULL;
	for (struct epoll_interest *interest = epoll->interests; interest; interest = interest->next) {
		if (interest->fd == fd)
			found = interest;
	}
	switch (op) {
	case EPOLL_CTL_ADD:
		if (found)
			return EEXIST;
		if (!event)
			return EFAULT;
		found = calloc(1, sizeof(*found));
		if (!found)
			return ENOMEM;
		found->fd = fd;
		found->event = *event;
		found->next = epoll->interests;
		epoll->interests = found;
		return 0;
	case EPOLL_CTL_MOD:
		if (!found)
			return ENOENT;
		if (!event)
			return EFAULT;
		found->event = *event;
		found->last_reported = 0;
		found->disabled = false;
		return 0;
	case EPOLL_CTL_DEL:
		if (!found)
			return ENOENT;
		remove_interest(epoll, fd);
		return 0;
	default:
		return EINVAL;
	}
}

static int adapter_epoll_ctl(void *userdata, int epfd, int op, int fd, struct epoll_event *event)
{
	struct lwip_adapter *adapter = userdata;
	pthread_mutex_lock(&adapter->lock);
	adapter_note_call(adapter);
	struct epoll_instance *epoll = epoll_by_fd(adapter, epfd);
	int error = epoll ? interest_change(adapter, epoll, op, fd, event) : EBADF;
	pthread_mutex_unlock(&adapter->lock);
	if (error) {
		errno = error;
		return -1;
	}
	return 0;
}

/* Fills `events` with what is ready now; returns how many. */
static int collect_ready(struct lwip_adapter *adapter, struct epoll_instance *epoll, struct epoll_event *events,
			 int maxevents)
{
	int count = 0;
	for (struct epoll_interest *interest = epoll->interests; interest && count < maxevents;
	     interest = interest->next) {
		struct adapter_socket *sock = fd_entry(adapter, interest->fd);
		if (!sock || interest->disabled)
			continue;
		short wanted = (short)(interest->event.events | EPOLLERR | EPOLLHUP);
		short ready = socket_readiness(sock) & wanted;
		bool edge_triggered = (interest->event.events & EPOLLET) != 0;
		if (edge_triggered && ready == interest->last_reported)
			continue;
		interest->last_reported = ready;
		if (!ready)
			continue;
		events[count].events = (uint32_t)ready;
		events[count].data = interest->event.data;
		count++;
		if (interest->event.events & EPOLLONESHOT)
			interest->disabled = true;
	}
	return count;
}

static int adapter_epoll_wait(void *userdata, int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	struct lwip_adapter *adapter = userdata;
	pthread_mutex_lock(&adapter->lock);
	adapter_note_call(adapter);
	struct epoll_instance *epoll = epoll_by_fd(adapter, epfd);
	int result = -1;
	int error = 0;
	if (!epoll) {
		error = EBADF;
	} else if (maxevents <= 0 || !events) {
		error = EINVAL;
	} else {
		long long deadline = timeout < 0 ? -1 : adapter_now_usecs(adapter) + (long long)timeout * 1000;
		for (;;) {
			result = collect_ready(adapter, epoll, events, maxevents);
			if (result > 0 || timeout == 0)
				break;
			if (adapter_wait(adapter, deadline) == ETIMEDOUT)
				break;
			/* The instance may have been closed while this call slept. */
			if (epoll_by_fd(adapter, epfd) != epoll) {
				result = -1;
				error = EBADF;
				break;
			}
		}
	}
	pthread_mutex_unlock(&adapter->lock);
	if (error)
		errno = error;
	return result;
}

void epoll_fill_table(struct packetdrill_interface *ifc)
{
	ifc->epoll_create = adapter_epoll_create;
	ifc->epoll_ctl = adapter_epoll_ctl;
	ifc->epoll_wait = adapter_epoll_wait;
}
